@testable import IBTPO
/// A synthetic byte-sequence task for smoke training: reverse a random lowercase word.
///
///     <BOS> k q z a f = f a z q k <EOS> <PAD> ...
///
/// written without spaces (`kqzaf=fazqk`). Only the reversed half and EOS carry loss.
/// Word lengths are uniform in `minLen...maxLen`. It needs attention to solve (the i-th
/// output copies the (k−i)-th input), so a falling loss shows the whole model learns.
public struct ReverseTask: Sendable {
    public var minLen: Int
    public var maxLen: Int
    public init(minLen: Int = 3, maxLen: Int = 8) { self.minLen = minLen; self.maxLen = maxLen }

    /// Tokens needed per sequence: BOS + word + '=' + word + EOS.
    public var sequenceLength: Int { 2 * maxLen + 3 }

    /// Writes `batch` examples into rows of `tokens`/`targets`/`coef` (each batch × seq),
    /// drawing from `rng`. Returns the number of weighted target tokens. Allocates nothing.
    public func fill(tokens: UnsafeMutablePointer<Int32>, targets: UnsafeMutablePointer<Int32>,
                     coef: UnsafeMutablePointer<Float>, batch: Int, seq: Int, rng: inout Rng,
                     tokenizer: ByteTokenizer = ByteTokenizer()) -> Int {
        var weighted = 0
        let eq = Int32(UInt8(ascii: "=")), a = Int32(UInt8(ascii: "a"))
        for b in 0..<batch {
            let row = b * seq
            let k = minLen + rng.nextInt(maxLen - minLen + 1)
            // Full sequence s[0...2k+2]; tokens = s[i], targets = s[i+1].
            func symbol(_ i: Int, _ word: UnsafeMutablePointer<Int32>) -> Int32 {
                if i == 0 { return tokenizer.bos }
                if i <= k { return word[i - 1] }
                if i == k + 1 { return eq }
                if i <= 2 * k + 1 { return word[2 * k + 1 - i] }
                if i == 2 * k + 2 { return tokenizer.eos }
                return tokenizer.pad
            }
            withUnsafeTemporaryAllocation(of: Int32.self, capacity: max(1, maxLen)) { buf in
                guard let word = buf.baseAddress else { return }
                for i in 0..<k { word[i] = a + Int32(rng.nextInt(26)) }
                for i in 0..<seq {
                    tokens[row + i] = symbol(i, word)
                    let inAnswer = i >= k + 1 && i <= 2 * k + 1
                    targets[row + i] = inAnswer ? symbol(i + 1, word) : -1
                    coef[row + i] = inAnswer ? -1 : 0
                    if inAnswer { weighted += 1 }
                }
            }
        }
        return weighted
    }
}

extension Trainer {
    /// Runs `steps` supervised steps on fresh `ReverseTask()` batches drawn from the
    /// trainer's own RNG (so a saved and reloaded trainer continues the same stream) and
    /// returns their losses.
    func trainOnReverse(steps: Int) throws -> [Float] {
        var losses: [Float] = []
        for _ in 0..<steps {
            _ = ReverseTask().fill(tokens: model.tokens, targets: model.targets, coef: model.coef,
                                   batch: config.batch, seq: config.seq, rng: &rng)
            losses.append(try supervisedStep().loss)
        }
        return losses
    }
}
