/// What the callbacks collect. Reached through curl's `void *userdata`.
final class TransferState {
    let maxBodyBytes: Int
    var body: [UInt8] = []
    var headers = CurlHeaders()
    var exceeded = false

    init(maxBodyBytes: Int) {
        self.maxBodyBytes = maxBodyBytes
    }
}
