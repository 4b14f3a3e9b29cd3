export { fork } from './fork';
export { merge } from './merge';
export { reinvest } from './reinvest';
export { scan } from './scan';
export { quarterlyReinvestment } from './quarterly';
export { importStatement } from './import';
