// drivers/base/core.c: device_hotplug_lock and device online/offline.
//
// Lock order (Documentation/admin-guide/mm/memory-hotplug.rst, "Locking Internals"):
//   device_hotplug_lock  (lock_device_hotplug(): sysfs online/offline, add/remove_memory())
//     -> mem_hotplug_lock (mem_hotplug_begin(): online_pages(), offline_pages(),
//                          add_memory_resource(), try_remove_memory())
// The model runs one operation at a time, so the locks are explicit state: each
// function that needs a lock asserts it is held, and taking one out of order is a
// bug the tests catch.

export class LockError extends Error {}

/** A sleeping lock as explicit state: who holds it, and how often it was taken. */
export class ModelLock {
  private holder: string | undefined;
  acquisitions = 0;

  constructor(readonly name: string) {}

  get held(): boolean {
    return this.holder !== undefined;
  }

  lock(who: string): void {
    if (this.holder !== undefined)
      throw new LockError(`${this.name}: ${who} would deadlock (held by ${this.holder})`);
    this.holder = who;
    this.acquisitions++;
  }

  /** mutex_trylock(): false when held. */
  tryLock(who: string): boolean {
    if (this.holder !== undefined) return false;
    this.lock(who);
    return true;
  }

  unlock(): void {
    if (this.holder === undefined) throw new LockError(`${this.name}: unlock of an unheld lock`);
    this.holder = undefined;
  }

  assertHeld(who: string): void {
    if (this.holder === undefined) throw new LockError(`${who} expects ${this.name} held`);
  }
}

export class HotplugLocks {
  /** drivers/base/core.c: device_hotplug_lock */
  readonly deviceHotplug = new ModelLock("device_hotplug_lock");
  /** mm/memory_hotplug.c: mem_hotplug_lock (a percpu rwsem; writers only here) */
  readonly memHotplug = new ModelLock("mem_hotplug_lock");

  /** lock_device_hotplug() */
  lockDeviceHotplug(who: string): void {
    if (this.memHotplug.held) throw new LockError(`${who}: device_hotplug_lock taken under mem_hotplug_lock`);
    this.deviceHotplug.lock(who);
  }
  unlockDeviceHotplug(): void {
    this.deviceHotplug.unlock();
  }
  /** mem_hotplug_begin() */
  memHotplugBegin(who: string): void {
    this.memHotplug.lock(who);
  }
  /** mem_hotplug_done() */
  memHotplugDone(): void {
    this.memHotplug.unlock();
  }
}
