/// Strict UTF-8 validation (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF.
public enum UTF8Check {
    /// The 0-based offset of the first byte that starts an invalid sequence, or nil if `bytes` is valid UTF-8.
    public static func firstInvalidOffset<C: Collection>(_ bytes: C) -> Int? where C.Element == UInt8, C.Index == Int {
        var i = bytes.startIndex
        let end = bytes.endIndex
        while i < end {
            let b0 = bytes[i]
            if b0 < 0x80 { i += 1; continue }
            let length: Int
            var lo: UInt8 = 0x80, hi: UInt8 = 0xBF   // allowed range of the second byte
            switch b0 {
            case 0xC2...0xDF: length = 2
            case 0xE0: length = 3; lo = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED: length = 3; hi = 0x9F
            case 0xF0: length = 4; lo = 0x90
            case 0xF1...0xF3: length = 4
            case 0xF4: length = 4; hi = 0x8F
            default: return i - bytes.startIndex
            }
            guard end - i >= length else { return i - bytes.startIndex }
            guard bytes[i + 1] >= lo, bytes[i + 1] <= hi else { return i - bytes.startIndex }
            for k in 2..<length where bytes[i + k] & 0xC0 != 0x80 { return i - bytes.startIndex }
            i += length
        }
        return nil
    }
}
