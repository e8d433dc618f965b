/**
 * CPython's release lines and when each reaches its end of life, as the Python developer's
 * guide lists them (https://devguide.python.org/versions/, from the release PEPs: PEP 596, 619,
 * 664, 693, 719, 745, 790). A line gets security fixes until the end of the month given.
 * Data, not code: update it when a new line's PEP is accepted, with the date it was checked.
 */
export const END_OF_LIFE = {
  checked: '2026-12-01',
  source: 'https://devguide.python.org/versions/',
  lines: {
    '3.8': '2024-10',
    '3.9': '2025-10',
    '3.10': '2026-10',
    '3.11': '2027-10',
    '3.12': '2028-10',
    '3.13': '2029-10',
    '3.14': '2030-10',
    '3.15': '2031-10',
  } as Readonly<Record<string, string>>,
} as const;

/** The last day of a line's support (the end of its end-of-life month), or null when the line is not listed. */
export function endOfLife(line: string): Date | null {
  const month = END_OF_LIFE.lines[line];
  if (!month) return null;
  const [year, m] = month.split('-').map(Number) as [number, number];
  return new Date(Date.UTC(year, m, 1) - 1);
}
