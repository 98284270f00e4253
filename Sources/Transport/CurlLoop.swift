import CCurlShim
import Foundation
import Synchronization

/// Drives libcurl's multi interface from one dedicated thread.
///
/// Swift tasks hand a configured easy handle to the loop and suspend on a continuation; the loop
/// thread resumes it when the transfer completes. No thread of Swift's cooperative pool ever blocks
/// inside libcurl.
/// `@unchecked`: the multi handle is used only by the loop thread, except `curl_multi_wakeup`,
/// which libcurl makes thread-safe.
final class CurlLoop: @unchecked Sendable {
    static let shared = CurlLoop()

    private struct Inbox: ~Copyable {
        var added: [CurlTransfer] = []
        var cancelled: [CurlTransfer] = []
    }

    private let multi: UnsafeMutableRawPointer
    private let inbox = Mutex(Inbox())

    private init() {
        curl_global_init(Int(clamping: CURL_GLOBAL_DEFAULT))
        guard let multi = curl_multi_init() else {
            fatalError("curl_multi_init failed: libcurl cannot allocate a multi handle")
        }
        self.multi = multi
        let thread = Thread { [self] in self.run() }
        thread.name = "certctl-curl"
        thread.start()
    }

    func submit(_ transfer: CurlTransfer) {
        inbox.withLock { $0.added.append(transfer) }
        curl_multi_wakeup(multi)
    }

    func cancel(_ transfer: CurlTransfer) {
        inbox.withLock { $0.cancelled.append(transfer) }
        curl_multi_wakeup(multi)
    }

    private func run() {
        // Touched only by this thread.
        var active: [UnsafeMutableRawPointer: CurlTransfer] = [:]
        while true {
            let (added, cancelled) = inbox.withLock { inbox in
                defer {
                    inbox.added.removeAll()
                    inbox.cancelled.removeAll()
                }
                return (inbox.added, inbox.cancelled)
            }
            for transfer in added {
                active[transfer.handle] = transfer
                curl_multi_add_handle(multi, transfer.handle)
            }
            for transfer in cancelled where active.removeValue(forKey: transfer.handle) != nil {
                curl_multi_remove_handle(multi, transfer.handle)
                transfer.finish(CURLE_ABORTED_BY_CALLBACK, cancelled: true)
            }

            var running: Int32 = 0
            curl_multi_perform(multi, &running)
            var queued: Int32 = 0
            while let message = curl_multi_info_read(multi, &queued) {
                guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle,
                    let transfer = active.removeValue(forKey: easy)
                else { continue }
                let result = message.pointee.data.result
                curl_multi_remove_handle(multi, easy)
                transfer.finish(result, cancelled: false)
            }
            curl_multi_poll(multi, nil, 0, active.isEmpty ? 60_000 : 1_000, nil)
        }
    }
}
