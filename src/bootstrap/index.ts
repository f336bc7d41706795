/** `pulumi up` runs this (Pulumi.yaml `main`): the default export is the program, its result the stack outputs. */
import { bootstrap } from './program.js';

export default () => bootstrap();
