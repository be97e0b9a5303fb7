/**
 * What AWS allows in tag keys and values, for every service (ECS's model carries it as a pattern;
 * AWS's tagging rules apply it to Cloud Map too): letters, numbers and spaces of any script, and
 * `_ . : / = + - @`. No control characters: a tab or newline in a tag breaks the logs, consoles and
 * CSV exports that show it (docs/compatibility.md#tags).
 */
export const TAG_PATTERN = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;
/** The characters of `TAG_PATTERN`, for error messages. */
export const TAG_CHARACTERS = 'letters, numbers, spaces and _ . : / = + - @';
