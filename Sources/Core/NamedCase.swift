/// An enum whose cases a config file names (`ChannelMix`, `SampleFormat`): found by that name.
public protocol NamedCase: CaseIterable {
    var name: String { get }
}

extension NamedCase {
    public init?(name: String) {
        guard let found = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = found
    }
}
