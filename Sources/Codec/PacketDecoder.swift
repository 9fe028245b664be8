import Core
import ProtocolMessages

/// What the audio thread decodes a stream's packets with: nil for PCM.
public enum PacketDecoder {
    case opus(OpusDecoderHandle)
    case flac(FLACDecoderHandle)

    /// The decoder `codec` needs at `sampleRate` and `channels`, made before the audio thread
    /// starts.
    public static func make(for codec: WireCodec, sampleRate: Int, channels: Int) throws(CodecError) -> PacketDecoder? {
        switch codec {
        case .pcm: return nil
        case .opus:
            do throws(OpusError) { return .opus(try OpusDecoderHandle(sampleRate: sampleRate, channels: channels)) } catch { throw .opus(error) }
        case .flac:
            do throws(FLACError) { return .flac(try FLACDecoderHandle(channels: channels)) } catch { throw .flac(error) }
        }
    }
}

/// A codec library that would not set up an encoder or decoder.
public enum CodecError: Error, Equatable, CustomStringConvertible {
    case opus(OpusError)
    case flac(FLACError)

    public var description: String {
        switch self {
        case .opus(let e): e.description
        case .flac(let e): e.description
        }
    }
}
