import { quorumSetup, singleNodeSetup } from '../helpers/store-setups';
import { describeStoreContract } from './store-contract';

describeStoreContract('redisStore (single node)', singleNodeSetup);

describeStoreContract('redisStore (Redlock quorum of 3 masters)', quorumSetup);
