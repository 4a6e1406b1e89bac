// Maps a device name to onnxruntime-node execution providers. 'auto' tries CUDA, then the CPU, and says why.
import * as ort from 'onnxruntime-node';
import { engineError } from '@liquidflow/core';
import type { NodeDevice } from './protocol.js';

export const NODE_DEVICES: readonly NodeDevice[] = ['auto', 'cpu', 'cuda'];

export const CUDA_HINT =
  'onnxruntime-node ships without its CUDA provider: on a machine with CUDA 12, reinstall it with ' +
  '`npm i onnxruntime-node --onnxruntime-node-install=cuda12` (and drop onnxruntime-node-install=skip from .npmrc)';

export interface OpenedSession {
  session: ort.InferenceSession;
  device: 'cpu' | 'cuda';
  reason: string;
}

/** Opens `bytes` (read from `where`, named in errors) on a device. */
export async function openSession(bytes: Uint8Array, device: NodeDevice, threads?: number, where = 'model'): Promise<OpenedSession> {
  if (!NODE_DEVICES.includes(device)) throw new Error(`unknown device '${device}': expected one of ${NODE_DEVICES.join(', ')}`);
  // ORT's native logger is process-wide, made with the first session; probing CUDA where it is missing makes it print
  // an error line. The failure itself reaches us as an exception, said clearly below (or as the reason 'auto' fell
  // back to the CPU), so every session of the process is opened here with the logger at 'fatal'.
  ort.env.logLevel = 'fatal';
  const base: ort.InferenceSession.SessionOptions = threads ? { intraOpNumThreads: threads } : {};
  // logSeverityLevel 4: a missing CUDA provider is expected here; ORT would otherwise print a red native error line.
  // The CPU provider is always there: its failure is the model's, said with the file and without ORT's source paths.
  const onCpu = () => ort.InferenceSession.create(bytes, { ...base, executionProviders: ['cpu'] }).catch((e) => {
    throw engineError(where, 'open the model', e);
  });
  const tryCuda = async () => ort.InferenceSession.create(bytes, { ...base, logSeverityLevel: 4, executionProviders: ['cuda'] });
  if (device === 'cuda') {
    try {
      return { session: await tryCuda(), device: 'cuda', reason: 'requested' };
    } catch (e) {
      throw new Error(`device 'cuda' is not available: ${(e as Error).message.split('\n')[0]}. ${CUDA_HINT}`);
    }
  }
  if (device === 'auto') {
    try {
      return { session: await tryCuda(), device: 'cuda', reason: 'auto: the CUDA provider loaded' };
    } catch (e) {
      const why = (e as Error).message.split('\n')[0];
      const session = await onCpu();
      return { session, device: 'cpu', reason: `auto: CUDA unavailable (${why})` };
    }
  }
  return { session: await onCpu(), device: 'cpu', reason: 'requested' };
}
