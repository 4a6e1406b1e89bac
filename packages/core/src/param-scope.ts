// Module paths for parameters and values: blocks.3.ssm.in_proj.weight is both the checkpoint key and the ONNX
// initializer name, so an ORT error points at a place in the model.
import type { Ops } from './ops.js';
import type { ParamInit } from './param-init.js';

export class Scope<T> {
  constructor(
    readonly ops: Ops<T>,
    readonly path: string,
  ) {}

  child(name: string | number): Scope<T> {
    return new Scope(this.ops, this.path ? `${this.path}.${name}` : String(name));
  }

  param(name: string, shape: number[], init: ParamInit): T {
    return this.ops.param(this.path ? `${this.path}.${name}` : name, shape, init);
  }

  /** Runs fn with this scope as the module path of the ops it creates. */
  run<R>(fn: () => R): R {
    return this.ops.scope(this.path, fn);
  }

  label(x: T, name: string): T {
    return this.ops.label(x, this.path ? `${this.path}.${name}` : name);
  }
}
