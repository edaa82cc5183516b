// The only place that imports azure-pipelines-task-lib: the task shells read inputs, connections and variables and
// report back to the agent through these functions; the core below never sees the agent.
export * from './inputs';
export * from './connections';
export * from './task';
