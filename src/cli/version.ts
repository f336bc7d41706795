/** The raibid command's version (package.json's, kept in step by test/cli.test.ts). */
export const VERSION = '0.1.0';
