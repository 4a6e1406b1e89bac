export declare const REPO_ROOT: string;
/** URL prefix -> folder (relative to the repository root) served by default; anything else is a 404. */
export declare const SERVED: Record<string, string>;
/** The page's URL path, where `/` redirects. */
export declare const EXAMPLE_PATH: string;
export interface StaticServer {
  url: string;
  port: number;
  /** Requests per decoded path. */
  hits: Map<string, number>;
  close(): Promise<void>;
}
export declare function startServer(options?: {
  /** The repository root SERVED's folders are relative to. */
  root?: string;
  /** More URL prefixes -> folders, or replacements for SERVED's. */
  mounts?: Record<string, string>;
  host?: string;
  port?: number;
  log?: boolean;
}): Promise<StaticServer>;
