import { memoryStore } from '../../src';
import { describeStoreContract } from './store-contract';

describeStoreContract('memoryStore', async () => {
  const store = memoryStore();
  return { store, teardown: () => store.close() };
});
