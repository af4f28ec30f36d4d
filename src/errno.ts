// The kernel's errno values (include/uapi/asm-generic/errno-base.h, errno.h and
// include/linux/errno.h). Model functions return 0 or a negative errno, as the
// kernel does; only the CLI and trace layers turn them into names.

export const EPERM = 1;
export const ENOENT = 2;
export const EINTR = 4;
export const EIO = 5;
export const ENXIO = 6;
export const E2BIG = 7;
export const EAGAIN = 11;
export const ENOMEM = 12;
export const EACCES = 13;
export const EFAULT = 14;
export const EBUSY = 16;
export const EEXIST = 17;
export const ENODEV = 19;
export const ENOTDIR = 20;
export const EISDIR = 21;
export const EINVAL = 22;
export const ENOSPC = 28;
export const ETXTBSY = 26;
export const EROFS = 30;
export const ERANGE = 34;
export const ENOSYS = 38;
export const EOPNOTSUPP = 95;
export const ETIMEDOUT = 110;
export const EALREADY = 114;
export const EHWPOISON = 133;
export const ENOTSUPP = 524;

const NAMES: ReadonlyMap<number, string> = new Map([
  [EPERM, "EPERM"],
  [ENOENT, "ENOENT"],
  [EINTR, "EINTR"],
  [EIO, "EIO"],
  [ENXIO, "ENXIO"],
  [E2BIG, "E2BIG"],
  [EAGAIN, "EAGAIN"],
  [ENOMEM, "ENOMEM"],
  [EACCES, "EACCES"],
  [EFAULT, "EFAULT"],
  [EBUSY, "EBUSY"],
  [EEXIST, "EEXIST"],
  [ENODEV, "ENODEV"],
  [ENOTDIR, "ENOTDIR"],
  [EISDIR, "EISDIR"],
  [EINVAL, "EINVAL"],
  [ETXTBSY, "ETXTBSY"],
  [ENOSPC, "ENOSPC"],
  [EROFS, "EROFS"],
  [ERANGE, "ERANGE"],
  [ENOSYS, "ENOSYS"],
  [EOPNOTSUPP, "EOPNOTSUPP"],
  [ETIMEDOUT, "ETIMEDOUT"],
  [EALREADY, "EALREADY"],
  [EHWPOISON, "EHWPOISON"],
  [ENOTSUPP, "ENOTSUPP"],
]);

const MESSAGES: ReadonlyMap<number, string> = new Map([
  [EPERM, "Operation not permitted"],
  [ENOENT, "No such file or directory"],
  [EINTR, "Interrupted system call"],
  [EIO, "Input/output error"],
  [ENXIO, "No such device or address"],
  [E2BIG, "Argument list too long"],
  [EAGAIN, "Resource temporarily unavailable"],
  [ENOMEM, "Cannot allocate memory"],
  [EACCES, "Permission denied"],
  [EFAULT, "Bad address"],
  [EBUSY, "Device or resource busy"],
  [EEXIST, "File exists"],
  [ENODEV, "No such device"],
  [ENOTDIR, "Not a directory"],
  [EISDIR, "Is a directory"],
  [EINVAL, "Invalid argument"],
  [ETXTBSY, "Text file busy"],
  [ENOSPC, "No space left on device"],
  [EROFS, "Read-only file system"],
  [ERANGE, "Numerical result out of range"],
  [ENOSYS, "Function not implemented"],
  [EOPNOTSUPP, "Operation not supported"],
  [ETIMEDOUT, "Connection timed out"],
  [EALREADY, "Operation already in progress"],
  // ENOTSUPP is kernel-internal (include/linux/errno.h): glibc has no text for it
  [EHWPOISON, "Memory page has hardware error"],
  [ENOTSUPP, "Unknown error 524"],
]);

/** "EBUSY" for 16 or -16. */
export function errnoName(err: number): string {
  const e = Math.abs(err);
  return NAMES.get(e) ?? `E${e}`;
}

/** strerror()-style text, as a shell prints it after "write error: ". */
export function errnoMessage(err: number): string {
  const e = Math.abs(err);
  return MESSAGES.get(e) ?? `Unknown error ${e}`;
}

/** 16 for "EBUSY"; undefined for an unknown name. */
export function errnoFromName(name: string): number | undefined {
  for (const [n, s] of NAMES) if (s === name) return n;
  return undefined;
}
