// Replies of one handle leave in the order their requests arrived.
//
// SFTP v3 lets a server answer in any order, but OpenSSH's sftp-server never reorders and real
// clients depend on it: OpenSSH `scp` truncates a download when a READ's reply overtakes an
// earlier one, and PuTTY `pscp` drops the connection. Requests still run concurrently (that
// is what makes pipelined transfers fast); only their replies wait here for the ones before.
// Requests on different handles, and path requests, are not held behind each other, so one
// slow file cannot stall the rest of the session.

export class ReplySequence {
  private nextSlot = 0;
  private nextToSend = 0;
  private readonly held = new Map<number, () => void>();

  /** Takes the next place in line; call when the request arrives. */
  reserve(): number {
    return this.nextSlot++;
  }

  /** The reply of `slot` is ready: `emit` runs now if every earlier slot has been sent, else later. */
  complete(slot: number, emit: () => void): void {
    if (slot !== this.nextToSend) {
      this.held.set(slot, emit);
      return;
    }
    emit();
    this.nextToSend++;
    for (let next = this.held.get(this.nextToSend); next; next = this.held.get(this.nextToSend)) {
      this.held.delete(this.nextToSend);
      this.nextToSend++;
      next();
    }
  }

  /** Replies finished but waiting for an earlier one. */
  get waiting(): number {
    return this.held.size;
  }
}
