/// Maps text to token ids and back: `ByteTokenizer` for the models libibtpo initialises,
/// `BPETokenizer` for pretrained ones. The model only needs `vocabSize` and the special ids.
public protocol Tokenizer {
    var vocabSize: Int { get }
    var bos: Int32 { get }
    var eos: Int32 { get }
    var pad: Int32 { get }
    /// Tokens of `text`, without BOS/EOS.
    func encode(_ text: String) -> [Int32]
    /// Text of `tokens`; special tokens are dropped and invalid UTF-8 is replaced by U+FFFD.
    func decode(_ tokens: [Int32]) -> String
    /// The bytes `tokens` stand for, special tokens dropped (what a reward function reads).
    func bytes(_ tokens: [Int32]) -> [UInt8]
}

extension Tokenizer {
    /// Default: the UTF-8 of `decode` (a tokenizer whose tokens can split a character
    /// should override it to give the raw bytes).
    public func bytes(_ tokens: [Int32]) -> [UInt8] { Array(decode(tokens).utf8) }
}

/// Byte-level tokenizer: ids 0–255 are the UTF-8 bytes, then the special tokens
/// BOS = 256, EOS = 257, PAD = 258 (vocab 259). Encoding never fails and round-trips
/// every valid UTF-8 string exactly.
public struct ByteTokenizer: Tokenizer, Sendable {
    public init() {}
    public var vocabSize: Int { 259 }
    public var bos: Int32 { 256 }
    public var eos: Int32 { 257 }
    public var pad: Int32 { 258 }

    public func encode(_ text: String) -> [Int32] { text.utf8.map { Int32($0) } }

    /// The byte tokens of `tokens` (special tokens dropped), as raw bytes.
    public static func bytes(_ tokens: [Int32]) -> [UInt8] { tokens.compactMap { $0 >= 0 && $0 < 256 ? UInt8($0) : nil } }
    public func bytes(_ tokens: [Int32]) -> [UInt8] { ByteTokenizer.bytes(tokens) }

    public func decode(_ tokens: [Int32]) -> String {
        let bytes = tokens.compactMap { $0 >= 0 && $0 < 256 ? UInt8($0) : nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Number of tokens `encode` returns, without building the array.
    public func count(_ text: String) -> Int { text.utf8.count }
}
