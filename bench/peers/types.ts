/** One job as every peer gets it: a label, its schedules (six fields with seconds, or five), a shell command. */
export interface PeerJob {
  label: string;
  schedules: string[];
  command: string;
}
