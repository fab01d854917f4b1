import { InProcessEventBus } from '../../src/events/in-process.events.js';
import { eventBusContract } from './events.contract.js';

// One bus is both ends: publisher and subscriber share the process (embedded mode, the fast tier).
eventBusContract('in-process', async () => {
  const bus = new InProcessEventBus();
  return { buses: [bus, bus], close: () => bus.close() };
});
