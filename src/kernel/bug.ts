// A kernel BUG(): the model reached a path where the real kernel halts (BUG(),
// BUG_ON()), e.g. __remove_memory() of a range that try_remove_memory() refuses.
// The model throws this instead of a plain Error so that the CLI, the shell and
// the fuzzer can tell "the kernel would crash here too" from a model bug.

export class KernelBug extends Error {
  constructor(
    /** The kernel function that BUG()s. */
    readonly where: string,
    message: string,
  ) {
    super(`${where}: ${message} (BUG)`);
    this.name = "KernelBug";
  }
}
