/// `text` with its control characters (C0, DEL, C1, and the bidirectional controls) shown as `?`:
/// a name a peer chose, printed on a person's terminal, cannot move its cursor, rewrite its title
/// or show the rest of the line in another order than it is.
public func printable(_ text: String) -> String {
    String(String.UnicodeScalarView(text.unicodeScalars.map { isControl($0) ? "?" : $0 }))
}

/// Whether `text` has a control character (C0, DEL, C1, bidirectional): a peer's string that has one is
/// refused where it is decoded, so none reaches a log line (a newline would forge the next
/// one) or a terminal.
public func hasControlCharacters(_ text: String) -> Bool { text.unicodeScalars.contains(where: isControl) }

/// The bidirectional controls (embeddings, overrides, isolates and marks: U+061C, U+200E–U+200F,
/// U+202A–U+202E, U+2066–U+2069) count: they reorder what follows them on a line ("Trojan
/// Source"). Other format characters (the zero-width joiner of emoji sequences) do not.
func isControl(_ scalar: Unicode.Scalar) -> Bool {
    switch scalar.value {
    case 0..<0x20, 0x7F...0x9F, 0x061C, 0x200E...0x200F, 0x202A...0x202E, 0x2066...0x2069: true
    default: false
    }
}
