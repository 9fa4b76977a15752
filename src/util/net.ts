// Small address helpers shared by every frontend.

/** `::ffff:1.2.3.4` → `1.2.3.4`, so one client cannot appear as two addresses. */
export function normalizeAddress(address: string | undefined): string {
  if (!address) return '';
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m ? m[1]! : address.toLowerCase();
}
