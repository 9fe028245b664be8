public enum MoosyncVersion {
    public static let current = "0.1.0"
}
