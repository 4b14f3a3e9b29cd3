/** Types of scripts/build-web.mjs, for src/main.ts and the tests. */
export interface EnsureWebBuildOptions {
  /** Build even when web/dist's stamp matches the inputs. */
  force?: boolean;
  /** Gets one line: up to date, or building and why (default: console.log). */
  log?: (line: string) => void;
  /** The repository root (default: this checkout). */
  root?: string;
  /** Replaces Vite's build (tests). */
  build?: (root: string) => Promise<void>;
}
export interface WebBuildResult {
  built: boolean;
  /** SHA-256 (hex) of the inputs, as stored in web/dist/.build-stamp. */
  stamp: string;
  ms: number;
}
export declare const ROOT: string;
export declare const STAMP_FILE: string;
export declare const INPUT_FILES: string[];
export declare const INPUT_DIRS: string[];
export declare const INPUT_PACKAGES: string[];
export declare function installedVersion(root: string, name: string): string | null;
export declare function webInputsHash(root?: string): string;
export declare function readStamp(root?: string): string | null;
export declare function ensureWebBuild(opts?: EnsureWebBuildOptions): Promise<WebBuildResult>;
