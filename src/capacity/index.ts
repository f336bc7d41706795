/** The capacity planner: node allocatable, platform requests, agent pool sizes. */
export * from './allocatable.js';
export * from './requests.js';
export * from './collect.js';
export * from './planner.js';
export * from './report.js';
