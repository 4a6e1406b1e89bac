export declare const REPO_ROOT: string;
export interface StaticServer {
  url: string;
  port: number;
  /** Requests per decoded path. */
  hits: Map<string, number>;
  close(): Promise<void>;
}
export declare function startServer(options?: {
  root?: string;
  mounts?: Record<string, string>;
  host?: string;
  port?: number;
  log?: boolean;
}): Promise<StaticServer>;
