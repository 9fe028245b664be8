/// `text` with its control characters (C0, DEL, C1) shown as `?`: a name a peer chose, printed on
/// a person's terminal, cannot move its cursor or rewrite its title.
public func printable(_ text: String) -> String {
    String(String.UnicodeScalarView(text.unicodeScalars.map { isControl($0) ? "?" : $0 }))
}

/// Whether `text` has a control character (C0, DEL, C1): a peer's string that has one is
/// refused where it is decoded, so none reaches a log line (a newline would forge the next
/// one) or a terminal.
public func hasControlCharacters(_ text: String) -> Bool { text.unicodeScalars.contains(where: isControl) }

func isControl(_ scalar: Unicode.Scalar) -> Bool { scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) }
