/**
 * A binary min-heap of items ordered by a numeric key, with removal of arbitrary items. Each
 * item keeps its index in the field the heap is given (one field per heap, so an item can be in
 * two), so removal and re-keying are O(log n); -1 when it is in none.
 */
export class MinHeap<F extends string, T extends Record<F, number>> {
  private readonly items: T[] = [];

  constructor(
    private readonly key: (item: T) => number,
    private readonly indexField: F,
  ) {}

  private indexOf(item: T): number {
    return item[this.indexField];
  }

  private setIndex(item: T, index: number): void {
    item[this.indexField] = index as T[F];
  }

  peek(): T | undefined {
    return this.items[0];
  }

  push(item: T): void {
    this.setIndex(item, this.items.length);
    this.items.push(item);
    this.up(this.indexOf(item));
  }

  remove(item: T): void {
    const index = this.indexOf(item);
    if (index >= 0 && this.items[index] === item) this.removeAt(index);
  }

  private removeAt(index: number): void {
    const removed = this.items[index]!;
    const last = this.items.pop()!;
    this.setIndex(removed, -1);
    if (last !== removed) {
      this.items[index] = last;
      this.setIndex(last, index);
      this.down(index);
      this.up(this.indexOf(last));
    }
  }

  private up(index: number): void {
    const item = this.items[index]!;
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = this.items[parentIndex]!;
      if (this.key(parent) <= this.key(item)) break;
      this.items[index] = parent;
      this.setIndex(parent, index);
      index = parentIndex;
    }
    this.items[index] = item;
    this.setIndex(item, index);
  }

  private down(index: number): void {
    const item = this.items[index]!;
    const length = this.items.length;
    for (;;) {
      let smallest = index;
      let smallestItem = item;
      for (const child of [2 * index + 1, 2 * index + 2]) {
        if (child < length && this.key(this.items[child]!) < this.key(smallestItem)) {
          smallest = child;
          smallestItem = this.items[child]!;
        }
      }
      if (smallest === index) break;
      this.items[index] = smallestItem;
      this.setIndex(smallestItem, index);
      index = smallest;
    }
    this.items[index] = item;
    this.setIndex(item, index);
  }
}
