/** `pulumi up` runs this (Pulumi.yaml `main`): the default export is the program; its result, the stack outputs. */
export { bootstrap as default } from './program.js';
