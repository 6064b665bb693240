import LuukkuCore
import Testing

@Suite struct WaitEstimatorTests {
    @Test func noExpertServingMeansNoEstimate() {
        let estimator = WaitEstimator(prior: .seconds(600))
        #expect(estimator.estimate(position: 1, expertsServing: 0, expertsAvailable: 0) == nil)
    }

    @Test func anAvailableExpertMeansNoWait() {
        let estimator = WaitEstimator(prior: .seconds(600))
        #expect(estimator.estimate(position: 1, expertsServing: 3, expertsAvailable: 1) == .zero)
        #expect(estimator.estimate(position: 2, expertsServing: 3, expertsAvailable: 2) == .zero)
    }

    @Test func priorIsUsedUntilThereIsHistory() {
        let estimator = WaitEstimator(prior: .seconds(600))
        #expect(estimator.meanHandlingTime == .seconds(600))
        // One busy expert, first in line: half a handling time on average.
        #expect(estimator.estimate(position: 1, expertsServing: 1, expertsAvailable: 0) == .seconds(300))
        // Third in line with one expert: two whole sessions and the rest of the running one.
        #expect(estimator.estimate(position: 3, expertsServing: 1, expertsAvailable: 0) == .seconds(1500))
    }

    @Test func expertsWorkInParallel() {
        var estimator = WaitEstimator(prior: .seconds(600))
        estimator.record(handlingTime: .seconds(400))
        // 4 experts, all busy: positions 1-4 wait half a session, 5-8 one and a half.
        #expect(estimator.estimate(position: 4, expertsServing: 4, expertsAvailable: 0) == .seconds(200))
        #expect(estimator.estimate(position: 5, expertsServing: 4, expertsAvailable: 0) == .seconds(600))
        // One of them free: position 5 is fourth in line for the busy ones.
        #expect(estimator.estimate(position: 5, expertsServing: 4, expertsAvailable: 1) == .seconds(200))
    }

    @Test func meanFollowsTheRecentWindowOnly() {
        var estimator = WaitEstimator(prior: .seconds(600), window: 3)
        for seconds in [100, 200, 300] { estimator.record(handlingTime: .seconds(seconds)) }
        #expect(estimator.meanHandlingTime == .seconds(200))
        estimator.record(handlingTime: .seconds(700))  // replaces 100
        #expect(estimator.sampleCount == 3)
        #expect(estimator.meanHandlingTime == .seconds(400))
        estimator.record(handlingTime: .seconds(-5))  // a clock step never makes a negative time
        #expect(estimator.meanHandlingTime == .seconds(1000) / 3)
    }

    @Test func moreAvailableThanServingIsClamped() {
        let estimator = WaitEstimator(prior: .seconds(60))
        #expect(estimator.estimate(position: 3, expertsServing: 2, expertsAvailable: 5) == .seconds(30))
    }
}
