// Line icons as inline SVG: emoji glyphs depend on the system's fonts (a bare Linux
// browser shows empty boxes), these render the same everywhere.

const PATHS = {
  stop: <rect x="6" y="6" width="12" height="12" rx="2" fill="currentColor" stroke="none" />,
  alarm: (
    <>
      <circle cx="12" cy="13" r="8" />
      <path d="M12 9v4l2.5 2.5M5 3 2 6M19 3l3 3" />
    </>
  ),
  cross: <path d="M6 6l12 12M18 6 6 18" />,
  hourglass: (
    <path d="M6 3h12M6 21h12M8 3v3a4 4 0 0 0 1.2 2.8L12 12l2.8-3.2A4 4 0 0 0 16 6V3M8 21v-3a4 4 0 0 1 1.2-2.8L12 12l2.8 3.2A4 4 0 0 1 16 18v3" />
  ),
  undo: <path d="M9 14 4 9l5-5M4 9h10.5a5.5 5.5 0 0 1 0 11H11" />,
  bolt: <path d="M13 2 4 14h8l-1 8 9-12h-8l1-8z" />,
  users: (
    <>
      <circle cx="9" cy="8" r="4" />
      <path d="M2 21v-1a7 7 0 0 1 14 0v1M16 4.5a3.5 3.5 0 0 1 0 7M19 14.5a6 6 0 0 1 3 5.5v1" />
    </>
  ),
};

export type IconName = keyof typeof PATHS;

export function Icon({ name, size = 28 }: { name: IconName; size?: number }) {
  return (
    <svg
      width={size}
      height={size}
      viewBox="0 0 24 24"
      fill="none"
      stroke="currentColor"
      strokeWidth={2}
      strokeLinecap="round"
      strokeLinejoin="round"
      aria-hidden="true"
    >
      {PATHS[name]}
    </svg>
  );
}
