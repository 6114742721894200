import CIBTPO

// Export through the C ABI: the trainer's current model as a Hugging Face directory or a
// GGUF file, with the tokenizer and chat template it came with.

@c @implementation
public func ibtpo_trainer_export(_ trainer: OpaquePointer?, _ path: UnsafePointer<CChar>?,
                                 _ format: UnsafePointer<CChar>?, _ dtype: UnsafePointer<CChar>?) -> ibtpo_status {
    onHandle(trainer) { h in
        guard let path else { throw invalid("path is NULL") }
        guard let format else { throw invalid("format is NULL") }
        let out = try utf8String(path, "path")
        guard !out.isEmpty else { throw invalid("path is empty") }
        let target = try ExportTarget(format: try utf8String(format, "format"),
                                      dtype: try dtype.map { try utf8String($0, "dtype") })
        let info: ExportInfo
        do { info = try ExportInfo(trainer: h.trainer) } catch let e as IBTPOError {
            throw IBTPOError(e.status, "the model this trainer was created from cannot be read again for its "
                + "tokenizer files and name: \(e.message)")
        }
        let report = h.progressClosure("export")
        try h.trainer.model.export(target, to: out, info: info, progress: report.map { r in { _ = r($0, $1) } })
    }
}
