// Placeholder until the command lands; it says so and exits 2 (bad usage).
export async function main(_argv: string[]): Promise<number> {
  process.stderr.write('startup-lock: this command is not available in this build yet\n');
  return 2;
}
