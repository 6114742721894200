import ArgumentParser
import IBTPO

/// `--model M` where M is a pretrained model (a GGUF file, an HF directory or a checkpoint of
/// a pretrained model) rather than a preset name, and the trainer every command builds from
/// it. The model's config is read from the file, never typed.
extension ModelOptions {
    /// The path --model names, when it is not a preset.
    var pretrainedPath: String? {
        guard let m = model, !ModelOptions.presets.contains(where: { $0.name == m }) else { return nil }
        return m
    }

    /// The pretrained model --model names (nil for a preset), its context capped at `maxSeq`.
    func openPretrained(maxSeq: Int?) throws -> PretrainedModel? {
        guard let path = pretrainedPath else { return nil }
        return try PretrainedModel.open(path, maxSeq: maxSeq)
    }

    /// The prompt format --chat / --system ask for with `p`.
    func promptFormat(_ p: PretrainedModel) throws -> PromptFormat {
        try p.promptFormat(chat: chat, system: system)
    }

    /// The trainer for `cfg`: from the pretrained model (weights, tokenizer, template) when
    /// --model names one or `checkpoint` is a checkpoint of one, else a fresh model; then
    /// `checkpoint`'s state, when given. `cfg.model` must be the model's config.
    func makeTrainer(_ cfg: TrainerConfig, checkpoint: String? = nil) throws -> Trainer {
        if let checkpoint, try Checkpoint.readHeader(path: checkpoint).assets[PretrainedModel.sourceAsset] != nil {
            let p = try PretrainedModel.open(checkpoint)
            return try Trainer(pretrained: p, config: cfg, format: chat || system != nil ? try promptFormat(p) : nil)
        }
        if let p = try openPretrained(maxSeq: cfg.model.maxSeq) {
            let t = try Trainer(pretrained: p, config: cfg, format: try promptFormat(p))
            if let checkpoint { try Checkpoint.load(t, path: checkpoint) }
            return t
        }
        let t = try Trainer(cfg)
        if let checkpoint { try Checkpoint.load(t, path: checkpoint) }
        return t
    }

    /// The model config of a command that reads a checkpoint or --model: the checkpoint's
    /// (checked against a preset --model), else the pretrained model's with its context
    /// capped at `context`. Throws when neither is given.
    func checkpointOrPretrainedConfig(_ checkpoint: String?, context: Int) throws -> ModelConfig {
        if let checkpoint {
            let h = try Checkpoint.readHeader(path: checkpoint)
            if pretrainedPath == nil { try check(checkpoint: checkpoint, model: h.config) }
            return h.config
        }
        guard let p = try openPretrained(maxSeq: context) else {
            throw ValidationError("give --checkpoint FILE, or --model with a GGUF file or a checkpoint of a pretrained model")
        }
        return p.config
    }
}
