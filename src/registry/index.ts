export * from './model.ts';
export * from './snapshot.ts';
