// Collects values pushed by callbacks (watch events, informer notifications) so a test can await them
// one by one, with a timeout, instead of sleeping.
export class AsyncQueue<T> {
  private readonly items: T[] = [];
  private readonly waiters: { match: (v: T) => boolean; resolve: (v: T) => void }[] = [];

  push = (item: T): void => {
    const i = this.waiters.findIndex((w) => w.match(item));
    if (i >= 0) {
      const [waiter] = this.waiters.splice(i, 1);
      waiter!.resolve(item);
    } else this.items.push(item);
  };

  /** Everything received and not yet taken. */
  get pending(): readonly T[] {
    return this.items;
  }

  /** The next value (or the next one matching `match`, dropping none of the others). */
  next(timeoutMs = 5000, match: (v: T) => boolean = () => true): Promise<T> {
    const i = this.items.findIndex(match);
    if (i >= 0) return Promise.resolve(this.items.splice(i, 1)[0] as T);
    return new Promise((resolve, reject) => {
      const waiter = {
        match,
        resolve: (v: T) => {
          clearTimeout(timer);
          resolve(v);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`timed out after ${timeoutMs}ms waiting for the next value`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }
}
