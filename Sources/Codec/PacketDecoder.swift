import Core
import ProtocolMessages

/// What the audio thread decodes a stream's packets with: nil for PCM.
public enum PacketDecoder {
    case opus(OpusDecoderHandle)
    case flac(FLACDecoderHandle)

    /// The decoder `codec` needs at `sampleRate` and `channels`, made before the audio thread
    /// starts.
    public static func make(for codec: WireCodec, sampleRate: Int, channels: Int) throws(CodecError) -> PacketDecoder? {
        try CodecError.wrapping {
            switch codec {
            case .pcm: return nil
            case .opus: return .opus(try OpusDecoderHandle(sampleRate: sampleRate, channels: channels))
            case .flac: return .flac(try FLACDecoderHandle(channels: channels))
            }
        }
    }
}

/// A codec library that would not set up an encoder or decoder, in its words.
public struct CodecError: Error, Equatable, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }

    /// What `body` makes, or its library's error (OpusError, FLACError) in its own words.
    public static func wrapping<T>(_ body: () throws -> T) throws(CodecError) -> T {
        do {
            return try body()
        } catch {
            throw CodecError(description: "\(error)")
        }
    }
}
