/**
 * `npm run audit:verify`: recomputes every audit chain (the system chain and
 * one per portfolio) from its first row and prints a table. Exits 1 when any
 * chain is broken. Uses DATABASE_URL, or the embedded database under
 * ALLUSE_DATA_DIR (stop `npm start` first, or point DATABASE_URL at it).
 */
import { verifyChain } from '../src/audit/audit';
import { openDatabase } from '../src/bootstrap';
import { loadConfig } from '../src/config';
import { createLogger } from '../src/infra/logger';

async function main(): Promise<void> {
  const config = loadConfig();
  const { orm, embedded } = await openDatabase(config, createLogger('audit-verify', 'warn'));
  try {
    const chains = await orm.em.fork().execute<{ chain: string }[]>('select distinct chain from audit_log order by chain');
    let broken = 0;
    console.log('chain                                   rows  status');
    for (const { chain } of chains) {
      const r = await verifyChain(orm.em.fork(), chain);
      if (!r.ok) broken++;
      console.log(`${chain.padEnd(38)} ${String(r.rows).padStart(5)}  ${r.ok ? 'ok' : `BROKEN at seq ${r.firstBadSeq}`}`);
    }
    console.log(`\n${chains.length} chains, ${broken} broken`);
    process.exitCode = broken ? 1 : 0;
  } finally {
    await orm.close();
    await embedded?.stop();
  }
}

main().catch((err) => {
  console.error(String((err as Error)?.message ?? err));
  process.exit(1);
});
