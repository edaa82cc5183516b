// Imported by index.ts right after the pipeline layer: `docker --version` and `docker-buildx version` need no input,
// so they start while the rest of the bundle loads, off the critical path of a run that finds everything in place.
// A module with a side effect on purpose.
import { processEnvironment } from '../../src/docker/endpoint';
import { startToolProbes } from '../../src/docker/probe';
import { run } from '../../src/process/exec';

export const toolProbes = startToolProbes(run, processEnvironment());
