/**
 * A binary min-heap of items ordered by a numeric key, with removal of arbitrary items. Each
 * item remembers its index (in `heapIndex`) so removal and re-keying are O(log n).
 */
export interface HeapItem {
  heapIndex: number;
}

export class MinHeap<T extends HeapItem> {
  private readonly items: T[] = [];

  constructor(private readonly key: (item: T) => number) {}

  peek(): T | undefined {
    return this.items[0];
  }

  push(item: T): void {
    item.heapIndex = this.items.length;
    this.items.push(item);
    this.up(item.heapIndex);
  }

  remove(item: T): void {
    if (item.heapIndex >= 0 && this.items[item.heapIndex] === item) this.removeAt(item.heapIndex);
  }

  private removeAt(index: number): void {
    const removed = this.items[index]!;
    const last = this.items.pop()!;
    removed.heapIndex = -1;
    if (last !== removed) {
      this.items[index] = last;
      last.heapIndex = index;
      this.down(index);
      this.up(last.heapIndex);
    }
  }

  private up(index: number): void {
    const item = this.items[index]!;
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = this.items[parentIndex]!;
      if (this.key(parent) <= this.key(item)) break;
      this.items[index] = parent;
      parent.heapIndex = index;
      index = parentIndex;
    }
    this.items[index] = item;
    item.heapIndex = index;
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
      smallestItem.heapIndex = index;
      index = smallest;
    }
    this.items[index] = item;
    item.heapIndex = index;
  }
}
