import * as tl from 'azure-pipelines-task-lib/task';
import { readFileSync } from 'node:fs';
import { type DeclaredInput, Inputs } from '../inputs';

export { InputError } from '../inputs';

/** The inputs the agent hands this task (INPUT_ variables), with the defaults of its task.json. */
export class TaskInputs extends Inputs {
  constructor(taskJsonPath: string) {
    const taskJson = JSON.parse(readFileSync(taskJsonPath, 'utf8')) as { inputs?: DeclaredInput[] };
    super(taskJson.inputs ?? [], (name) => tl.getInput(name, false));
  }
}
