import AriaCore
import Foundation
import Testing

/// The string form of run ids, formatted and parsed without Foundation's `snprintf`/`sscanf` path.
@Suite struct RunIDTests {
    @Test func formatsLikeFoundationInLowercaseAndParsesBack() {
        for _ in 0..<1_000 {
            let uuid = UUID()
            let id = RunID(uuid)
            #expect(id.description == uuid.uuidString.lowercased())
            #expect(RunID(id.description) == id)
            #expect(RunID(uuid.uuidString) == id)  // uppercase, as Foundation writes it
        }
        let generated = RunID.generate()
        #expect(RunID(generated.description) == generated)
    }

    @Test(arguments: [
        "", "01a200e2", "01a200e2-0f23-7395-8e8c-90f480a2ea7", "01a200e2-0f23-7395-8e8c-90f480a2ea733",
        "01a200e20f23-7395-8e8c-90f480a2ea73-", "01a200e2-0f237-395-8e8c-90f480a2ea73", "01a200e2-0f23-7395-8e8c-90f480a2ea7g",
        "{01a200e2-0f23-7395-8e8c-90f480a2ea73}", " 01a200e2-0f23-7395-8e8c-90f480a2ea73", "01a200e2_0f23_7395_8e8c_90f480a2ea73",
        "01a200e2-0f23-7395-8e8c-90f480a2ea7é",
    ])
    func refusesWhatIsNotAUUID(_ text: String) {
        #expect(RunID(text) == nil)
    }
}
