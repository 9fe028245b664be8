import Core

/// What the audio thread decodes a stream's packets with: nil for PCM.
public enum PacketDecoder {
    case opus(OpusDecoderHandle)
    case flac(FLACDecoderHandle)

    /// The decoder `codec` needs at `sampleRate` and `channels`, made before the audio thread
    /// starts.
    public static func make(for codec: WireCodec, sampleRate: Int, channels: Int) throws(CodecError) -> PacketDecoder? {
        do {
            switch codec {
            case .pcm: return nil
            case .opus: return .opus(try OpusDecoderHandle(sampleRate: sampleRate, channels: channels))
            case .flac: return .flac(try FLACDecoderHandle(channels: channels))
            }
        } catch let error as OpusError {
            throw CodecError(description: error.description)
        } catch {
            throw CodecError(description: "\(error)")
        }
    }
}

/// A codec library that would not set up an encoder or decoder, in its words.
public struct CodecError: Error, Equatable, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}
