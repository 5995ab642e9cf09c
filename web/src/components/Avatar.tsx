const PALETTE = [
  "#4f46e5",
  "#0891b2",
  "#059669",
  "#d97706",
  "#db2777",
  "#7c3aed",
  "#dc2626",
  "#2563eb",
];

function hue(name: string): string {
  let h = 0;
  for (const ch of name) h = (h * 31 + ch.codePointAt(0)!) >>> 0;
  return PALETTE[h % PALETTE.length];
}

export function Avatar({ name, size = 36 }: { name: string; size?: number }) {
  const initial = [...name][0]?.toUpperCase() ?? "?";
  return (
    <span
      className="avatar"
      aria-hidden="true"
      style={{ background: hue(name), width: size, height: size, fontSize: size * 0.45 }}
    >
      {initial}
    </span>
  );
}
