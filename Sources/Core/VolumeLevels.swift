/// The 0–100 volume a person sets and the protocol carries (CONTROL, STATUS, the local control
/// socket); what each level sounds like is `VolumeScale`'s.
public let volumeLevels = 0...100
