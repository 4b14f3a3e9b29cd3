export { fork } from './fork';
export { merge } from './merge';
export { reinvest } from './reinvest';
