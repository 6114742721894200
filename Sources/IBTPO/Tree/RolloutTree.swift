import Glibc

/// How π̄(s), the sampling policy's probability of a node's segment, is formed from the
/// segment's per-token log-probs (docs/algorithm.md §2, [choice]).
public enum PiBarForm: Int32, Equatable, Sendable {
    /// exp(mean token log-prob): the geometric-mean token probability (default).
    case lengthNormalized = 0
    /// exp(sum of token log-probs): the raw product, which vanishes on long segments.
    case product = 1
}

/// A root-to-leaf path of a `RolloutTree`: one training sequence.
public struct TreeTrajectory: Equatable, Sendable {
    /// Node ids from the first non-root node to the leaf (the root is not listed).
    public var nodes: [Int]
    /// The leaf's id (== nodes.last, or 0 for a degenerate root-only path).
    public var leaf: Int
    /// The leaf's reward.
    public var reward: Double
    /// Concatenated segment tokens and their sampling log-probs (response only, no prompt).
    public var tokens: [Int32]
    public var logps: [Float]
    /// For every token, the node whose segment it belongs to (same length as `tokens`).
    public var tokenNodes: [Int]
}

/// Shape of a tree (docs/algorithm.md §7): node count (root included), branch points (nodes with
/// ≥ 2 children) and the mean depth of the branch points (0 when there are none).
public struct TreeShape: Equatable, Sendable {
    public var nodes: Int
    public var branchPoints: Int
    public var meanBranchDepth: Double
    public var leaves: Int
    public var generatedTokens: Int
    public init(nodes: Int = 0, branchPoints: Int = 0, meanBranchDepth: Double = 0, leaves: Int = 0,
                generatedTokens: Int = 0) {
        self.nodes = nodes; self.branchPoints = branchPoints; self.meanBranchDepth = meanBranchDepth
        self.leaves = leaves; self.generatedTokens = generatedTokens
    }
}

/// The rollout tree of one prompt (docs/algorithm.md §2). Node 0 is the root (the prompt; no
/// segment). Every other node owns the segment of tokens leading from its parent to it.
/// Leaves are finished responses and carry a reward.
///
/// Structure is edited with `addNode`, `markLeaf` and `split`; the statistics n, c, p̂, π̄
/// are derived by `finalize()` and are stale (`isFinalized == false`) after any edit.
public struct RolloutTree: Equatable, Sendable {
    public struct Node: Equatable, Sendable {
        public var id: Int
        /// Parent id; -1 for the root.
        public var parent: Int
        /// 0 for the root, parent.depth + 1 otherwise.
        public var depth: Int
        public var tokens: [Int32]
        /// Per-token log-probs of `tokens` under the sampling policy.
        public var logps: [Float]
        public var children: [Int]
        public var isLeaf: Bool
        /// Reward of a leaf (0 for internal nodes).
        public var reward: Double
        /// Response tokens on the path root → this node, this node's segment included.
        public var pathTokens: Int
        /// A sampled trajectory whose sequence passes through this node (so its decoder slot
        /// holds the node's prefix), or -1 when none is known (the root, hand-built trees).
        /// `split` gives both parts the same trajectory, so the relation survives splits.
        public var trajectory: Int = -1
        // Derived by finalize():
        /// Leaves in the subtree.
        public var n: Int = 0
        /// Sum of the subtree's leaf rewards.
        public var c: Double = 0
        /// c / n (0 when n = 0).
        public var pHat: Double = 0
        /// Sampling probability of the segment (see `PiBarForm`; 1 for the root and for empty segments).
        public var piBar: Double = 1
    }

    public private(set) var nodes: [Node]
    /// Prompt tokens in front of the root (only used for the length cap of `expandable`).
    public let promptLength: Int
    public private(set) var isFinalized = false
    /// The π̄ form used by the last `finalize`.
    public private(set) var piBarForm: PiBarForm = .lengthNormalized

    public static let root = 0

    public init(promptLength: Int, reserveNodes: Int = 0) {
        self.promptLength = promptLength
        nodes = []
        nodes.reserveCapacity(max(1, reserveNodes))
        nodes.append(Node(id: 0, parent: -1, depth: 0, tokens: [], logps: [], children: [], isLeaf: false,
                          reward: 0, pathTokens: 0))
    }

    public var count: Int { nodes.count }
    public subscript(_ id: Int) -> Node { nodes[id] }

    /// Adds a child of `parent` owning `tokens` (with their sampling log-probs) and returns its id.
    /// Throws if the parent does not exist or is a leaf, or the arrays differ in length.
    @discardableResult
    public mutating func addNode(parent: Int, tokens: [Int32], logps: [Float], trajectory: Int = -1) throws -> Int {
        guard parent >= 0 && parent < nodes.count else { throw invalid("tree: no parent node \(parent)") }
        guard !nodes[parent].isLeaf else { throw invalid("tree: node \(parent) is a leaf and cannot have children") }
        guard tokens.count == logps.count else {
            throw invalid("tree: segment has \(tokens.count) tokens but \(logps.count) log-probs")
        }
        let id = nodes.count
        let p = nodes[parent]
        nodes.append(Node(id: id, parent: parent, depth: p.depth + 1, tokens: tokens, logps: logps, children: [],
                          isLeaf: false, reward: 0, pathTokens: p.pathTokens + tokens.count, trajectory: trajectory))
        nodes[parent].children.append(id)
        isFinalized = false
        return id
    }

    /// Adds a chain of nodes under `parent`, one per segment, and marks the last one a leaf
    /// with `reward`. Every new node records `trajectory`. Returns the ids (first to leaf).
    @discardableResult
    public mutating func addPath(parent: Int, segments: [([Int32], [Float])], reward: Double,
                                 trajectory: Int = -1) throws -> [Int] {
        guard !segments.isEmpty else { throw invalid("tree: a path needs at least one segment") }
        var ids: [Int] = []
        var at = parent
        for (t, l) in segments {
            at = try addNode(parent: at, tokens: t, logps: l, trajectory: trajectory)
            ids.append(at)
        }
        try markLeaf(at, reward: reward)
        return ids
    }

    /// Marks a childless non-root node as a finished response with `reward` (finite).
    public mutating func markLeaf(_ id: Int, reward: Double) throws {
        guard id > 0 && id < nodes.count else { throw invalid("tree: cannot mark node \(id) as a leaf") }
        guard nodes[id].children.isEmpty else { throw invalid("tree: node \(id) has children and cannot be a leaf") }
        guard reward.isFinite else { throw invalid("tree: reward of node \(id) is not finite") }
        nodes[id].isLeaf = true
        nodes[id].reward = reward
        isFinalized = false
    }

    /// Computes n, c, p̂ and π̄ for every node. Throws if a non-root node is neither a leaf
    /// nor has children (a dangling branch). A root without children gets n = 0, p̂ = 0.
    public mutating func finalize(piBar form: PiBarForm = .lengthNormalized) throws {
        for i in 1..<max(1, nodes.count) where !nodes[i].isLeaf && nodes[i].children.isEmpty {
            throw invalid("tree: node \(i) is neither a leaf nor has children")
        }
        // After `split` a child can have a smaller id than its parent, so accumulate in
        // reverse breadth-first order (children before parents).
        for i in 0..<nodes.count {
            nodes[i].n = nodes[i].isLeaf ? 1 : 0
            nodes[i].c = nodes[i].isLeaf ? nodes[i].reward : 0
        }
        for i in topologicalOrder().reversed() where i != 0 {
            let p = nodes[i].parent
            nodes[p].n += nodes[i].n
            nodes[p].c += nodes[i].c
        }
        for i in 0..<nodes.count {
            nodes[i].pHat = nodes[i].n > 0 ? nodes[i].c / Double(nodes[i].n) : 0
            nodes[i].piBar = RolloutTree.piBar(nodes[i].logps, form)
        }
        piBarForm = form
        isFinalized = true
    }

    /// π̄ of a segment: exp(mean logp) or exp(Σ logp), summed in Double; 1 for an empty segment.
    public static func piBar(_ logps: [Float], _ form: PiBarForm) -> Double {
        if logps.isEmpty { return 1 }
        var s = 0.0
        for l in logps { s += Double(l) }
        return exp(form == .lengthNormalized ? s / Double(logps.count) : s)
    }

    /// Leaf ids in increasing id order.
    public var leaves: [Int] { nodes.filter { $0.isLeaf }.map { $0.id } }

    /// Node ids from the first non-root node down to `id` (empty for the root).
    public func path(to id: Int) -> [Int] {
        var p: [Int] = []
        var at = id
        while at > 0 { p.append(at); at = nodes[at].parent }
        return p.reversed()
    }

    /// Response tokens on the path from the root to `id`, its own segment included.
    public func tokens(through id: Int) -> [Int32] {
        var out: [Int32] = []
        out.reserveCapacity(nodes[id].pathTokens)
        for n in path(to: id) { out += nodes[n].tokens }
        return out
    }

    /// Response tokens before `point`: the path to the point's node's parent, then the first
    /// `point.offset` tokens of its segment (a branch there continues after them).
    public func tokens(before point: BranchPoint) -> [Int32] {
        let s = nodes[point.node]
        var out = point.node == RolloutTree.root ? [] : tokens(through: s.parent)
        out += s.tokens[..<point.offset]
        return out
    }

    /// Every root-to-leaf trajectory, in increasing leaf id order.
    public func trajectories() -> [TreeTrajectory] {
        leaves.map { leaf in
            let p = path(to: leaf)
            var toks: [Int32] = [], lps: [Float] = [], owner: [Int] = []
            for id in p {
                toks += nodes[id].tokens; lps += nodes[id].logps
                owner += [Int](repeating: id, count: nodes[id].tokens.count)
            }
            return TreeTrajectory(nodes: p, leaf: leaf, reward: nodes[leaf].reward, tokens: toks, logps: lps,
                                  tokenNodes: owner)
        }
    }

    /// Generated tokens: every segment counted once (shared prefixes are not recounted).
    public var generatedTokens: Int { nodes.reduce(0) { $0 + $1.tokens.count } }

    public var shape: TreeShape {
        var bp = 0, depthSum = 0, leafCount = 0
        for n in nodes {
            if n.children.count >= 2 { bp += 1; depthSum += n.depth }
            if n.isLeaf { leafCount += 1 }
        }
        return TreeShape(nodes: nodes.count, branchPoints: bp, meanBranchDepth: bp > 0 ? Double(depthSum) / Double(bp) : 0,
                         leaves: leafCount, generatedTokens: generatedTokens)
    }

    /// Prompt tokens plus response tokens on the path to `id`.
    public func prefixLength(_ id: Int) -> Int { promptLength + nodes[id].pathTokens }

    /// Nodes a new branch may start from (docs/algorithm.md §4, [choice]): the root and every
    /// internal node (non-leaf with ≥ 1 child), excluding nodes whose prefix length already
    /// reaches `lengthCap` (total tokens, prompt included). Increasing id order.
    /// `includeRoot: false` (option `TreeConfig.expandRoot`) leaves the root out.
    public func expandable(lengthCap: Int, includeRoot: Bool = true) -> [Int] {
        nodes.filter { n in
            (n.id == 0 ? includeRoot : (!n.isLeaf && !n.children.isEmpty)) && prefixLength(n.id) < lengthCap
        }.map { $0.id }
    }

    /// Splits node `id`'s segment after `offset` tokens (0 < offset < segment length): node
    /// `id` keeps the first part (same id, parent and depth) and a new node (returned id)
    /// takes the remainder, the children, the leaf flag and the reward. Descendants move one
    /// level deeper. If the tree was finalized, n, c, p̂ are copied to the new node (the
    /// subtree's leaves are unchanged) and π̄ is recomputed for both parts, so the tree stays
    /// finalized.
    @discardableResult
    public mutating func split(node id: Int, at offset: Int) throws -> Int {
        guard id > 0 && id < nodes.count else { throw invalid("tree: cannot split node \(id)") }
        let s = nodes[id]
        guard offset > 0 && offset < s.tokens.count else {
            throw invalid("tree: split offset \(offset) must be in 1..<\(s.tokens.count) for node \(id)")
        }
        let newId = nodes.count
        var tail = Node(id: newId, parent: id, depth: s.depth + 1, tokens: Array(s.tokens[offset...]),
                        logps: Array(s.logps[offset...]), children: s.children, isLeaf: s.isLeaf, reward: s.reward,
                        pathTokens: s.pathTokens, trajectory: s.trajectory)
        tail.n = s.n; tail.c = s.c; tail.pHat = s.pHat
        tail.piBar = RolloutTree.piBar(tail.logps, piBarForm)
        nodes.append(tail)
        for ch in s.children { nodes[ch].parent = newId }
        nodes[id].tokens = Array(s.tokens[..<offset])
        nodes[id].logps = Array(s.logps[..<offset])
        nodes[id].children = [newId]
        nodes[id].isLeaf = false
        nodes[id].reward = 0
        nodes[id].pathTokens = s.pathTokens - (s.tokens.count - offset)
        nodes[id].piBar = RolloutTree.piBar(nodes[id].logps, piBarForm)
        // Depths below the new node grow by one.
        var stack = s.children
        while let x = stack.popLast() { nodes[x].depth += 1; stack += nodes[x].children }
        return newId
    }

    /// Node ids ordered so that every parent precedes its children (breadth-first).
    public func topologicalOrder() -> [Int] {
        var order = [0]
        order.reserveCapacity(nodes.count)
        var i = 0
        while i < order.count { order += nodes[order[i]].children; i += 1 }
        return order
    }

    /// Turns branch points into the node ids to branch from. A point (node, offset) means
    /// "continue after the first `offset` tokens of node's segment": offset == segment
    /// length is the node itself, offset 0 is its parent, anything in between splits the
    /// node (several offsets in one node are applied in increasing order, each split
    /// acting on the remainder). Returns one id per point, in the order given.
    public mutating func branchNodes(for points: [BranchPoint]) throws -> [Int] {
        var out = [Int](repeating: -1, count: points.count)
        // Group interior points per node, ascending offset.
        var interior: [Int: [(offset: Int, index: Int)]] = [:]
        for (i, p) in points.enumerated() {
            guard p.node >= 0 && p.node < nodes.count else { throw invalid("tree: no node \(p.node)") }
            let len = nodes[p.node].tokens.count
            guard p.offset >= 0 && p.offset <= len else {
                throw invalid("tree: offset \(p.offset) outside node \(p.node)'s segment of \(len) tokens")
            }
            if p.offset == len { out[i] = p.node }
            else if p.offset == 0 { out[i] = nodes[p.node].parent }
            else { interior[p.node, default: []].append((p.offset, i)) }
        }
        for node in interior.keys.sorted() {
            let list = interior[node]!.sorted { $0.offset < $1.offset }
            var cur = node, consumed = 0
            // Nodes ending exactly at an already-applied split (duplicate offsets) reuse it.
            var lastOffset = -1, lastId = -1
            for (off, idx) in list {
                if off == lastOffset { out[idx] = lastId; continue }
                let tail = try split(node: cur, at: off - consumed)
                out[idx] = cur
                lastOffset = off; lastId = cur
                consumed = off; cur = tail
            }
        }
        return out
    }
}

/// A place to start a new branch: after the first `offset` tokens of `node`'s segment.
/// Node-level rules use offset == segment length (the node's end state).
public struct BranchPoint: Equatable, Sendable, CustomStringConvertible {
    public var node: Int
    public var offset: Int
    public init(node: Int, offset: Int) { self.node = node; self.offset = offset }
    public var description: String { "(\(node), \(offset))" }
}
