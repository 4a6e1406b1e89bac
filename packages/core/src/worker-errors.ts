// Errors lose their class when they cross a worker boundary (only the message and name survive a postMessage):
// runtimes rebuild the ones callers branch on, so `instanceof ModelFileError` works the same with or without a worker.
import { ConfigError } from './families/family.js';
import { EngineError, ModelFileError } from './onnx-metadata.js';
import { NonFiniteOutputError } from './sampler.js';

const CLASSES: Record<string, new (message: string) => Error> = { ConfigError, EngineError, ModelFileError, NonFiniteOutputError };

/** The error `name` and `message` posted by a worker, as its class where it is one of core's, else a plain Error. */
export function reviveError(name: string | undefined, message: string): Error {
  const Class = name && Object.hasOwn(CLASSES, name) ? CLASSES[name] : Error;
  return new Class(message);
}
