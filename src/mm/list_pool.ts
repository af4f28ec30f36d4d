// include/linux/list.h for the page allocator's lists, over typed arrays: a
// fixed number of doubly linked lists sharing one pool of nodes, each node
// holding a block's head PFN and a small tag of its owner's (the per-cpu lists
// keep the migratetype there). The buddy's free_area lists and the per-cpu
// pages lists are both built on it (src/mm/mmzone.ts); in Linux both link
// struct page through page->lru / page->pcp_list.

export class ListPool {
  private readonly headNode: Int32Array;
  private readonly tailNode: Int32Array;
  private readonly listLen: Float64Array;
  private next: Int32Array;
  private prev: Int32Array;
  private pfnOf: Float64Array;
  private tagOf: Uint8Array;
  private listOf: Int16Array;
  private freeNode = -1;
  private used = 0;
  private live = 0;

  constructor(
    readonly nrLists: number,
    initialNodes = 16,
  ) {
    this.headNode = new Int32Array(nrLists).fill(-1);
    this.tailNode = new Int32Array(nrLists).fill(-1);
    this.listLen = new Float64Array(nrLists);
    this.next = new Int32Array(initialNodes);
    this.prev = new Int32Array(initialNodes);
    this.pfnOf = new Float64Array(initialNodes);
    this.tagOf = new Uint8Array(initialNodes);
    this.listOf = new Int16Array(initialNodes);
  }

  private allocNode(): number {
    if (this.freeNode >= 0) {
      const n = this.freeNode;
      this.freeNode = this.next[n];
      return n;
    }
    if (this.used === this.next.length) {
      const cap = this.next.length * 2;
      const grow = <T extends Int32Array | Float64Array | Uint8Array | Int16Array>(a: T, b: T): T => {
        b.set(a);
        return b;
      };
      this.next = grow(this.next, new Int32Array(cap));
      this.prev = grow(this.prev, new Int32Array(cap));
      this.pfnOf = grow(this.pfnOf, new Float64Array(cap));
      this.tagOf = grow(this.tagOf, new Uint8Array(cap));
      this.listOf = grow(this.listOf, new Int16Array(cap));
    }
    return this.used++;
  }

  /** list_add() (toTail false) or list_add_tail() of a new node for pfn on list li; the node. */
  add(li: number, pfn: number, tag: number, toTail: boolean): number {
    const n = this.allocNode();
    this.pfnOf[n] = pfn;
    this.tagOf[n] = tag;
    this.link(n, li, toTail);
    this.live++;
    return n;
  }

  private link(n: number, li: number, toTail: boolean): void {
    this.listOf[n] = li;
    if (toTail) {
      const t = this.tailNode[li];
      this.prev[n] = t;
      this.next[n] = -1;
      if (t >= 0) this.next[t] = n;
      else this.headNode[li] = n;
      this.tailNode[li] = n;
    } else {
      const h = this.headNode[li];
      this.next[n] = h;
      this.prev[n] = -1;
      if (h >= 0) this.prev[h] = n;
      else this.tailNode[li] = n;
      this.headNode[li] = n;
    }
    this.listLen[li]++;
  }

  private unlink(n: number): void {
    const li = this.listOf[n];
    const p = this.prev[n];
    const x = this.next[n];
    if (p >= 0) this.next[p] = x;
    else this.headNode[li] = x;
    if (x >= 0) this.prev[x] = p;
    else this.tailNode[li] = p;
    this.listLen[li]--;
  }

  /** list_del() of node n; the node is free again. */
  del(n: number): void {
    this.unlink(n);
    this.next[n] = this.freeNode;
    this.freeNode = n;
    this.live--;
  }

  /** list_move_tail() of node n to list li. */
  moveTail(n: number, li: number): void {
    this.unlink(n);
    this.link(n, li, true);
  }

  /** The node at the head of list li, or -1 when it is empty. */
  first(li: number): number {
    return this.headNode[li];
  }
  /** The node at the tail of list li, or -1. */
  last(li: number): number {
    return this.tailNode[li];
  }
  /** The node after n on its list, or -1. */
  nextOf(n: number): number {
    return this.next[n];
  }
  pfn(n: number): number {
    return this.pfnOf[n];
  }
  tag(n: number): number {
    return this.tagOf[n];
  }
  /** The list node n is on. */
  list(n: number): number {
    return this.listOf[n];
  }
  length(li: number): number {
    return this.listLen[li];
  }
  /** Nodes on all lists. */
  get size(): number {
    return this.live;
  }

  /** Structural self-check of list li (links, its nodes' list, its length); `name` names it in messages. */
  checkList(li: number, name: string): string[] {
    const out: string[] = [];
    let len = 0;
    let prev = -1;
    for (let n = this.headNode[li]; n >= 0; n = this.next[n]) {
      if (this.prev[n] !== prev) out.push(`${name} broken back link`);
      if (this.listOf[n] !== li) out.push(`node on ${name} says list ${this.listOf[n]}`);
      prev = n;
      if (++len > this.used) {
        out.push(`${name} has a cycle`);
        break;
      }
    }
    if (this.tailNode[li] !== prev) out.push(`${name} tail wrong`);
    if (len !== this.listLen[li]) out.push(`${name} length ${len} != ${this.listLen[li]}`);
    return out;
  }
}
