import { Arg, Ctx, Field, GraphQLISODateTime, InputType, Mutation, ObjectType, Query, Resolver } from 'type-graphql';
import { Account } from '../db/entities/index.js';
import { getViewer, signIn, signOut, signUp } from '../domain/account/account.service.js';
import type { Context } from './context.js';

@InputType()
export class SignUpInput {
  @Field(() => String)
  email!: string;

  @Field(() => String, { description: '10 to 200 characters.' })
  password!: string;

  @Field(() => String)
  displayName!: string;
}

@ObjectType({ description: 'A new session. Send the token as `Authorization: Bearer <token>`.' })
export class AuthPayload {
  @Field(() => Account)
  account!: Account;

  @Field(() => String, { description: 'Shown once; only its hash is stored.' })
  token!: string;

  @Field(() => GraphQLISODateTime)
  expiresAt!: Date;
}

@Resolver()
export class AccountResolver {
  @Query(() => Account, { nullable: true, description: 'The signed-in account, or null.' })
  viewer(@Ctx() ctx: Context): Promise<Account | null> {
    return getViewer(ctx.em, ctx.actor);
  }

  @Mutation(() => AuthPayload)
  signUp(@Arg('input', () => SignUpInput) input: SignUpInput, @Ctx() ctx: Context): Promise<AuthPayload> {
    return signUp(ctx.em, { ...input }, { ttlMs: ctx.config.sessionTtlMs });
  }

  @Mutation(() => AuthPayload)
  signIn(@Arg('email', () => String) email: string, @Arg('password', () => String) password: string, @Ctx() ctx: Context): Promise<AuthPayload> {
    return signIn(ctx.em, { email, password }, { ttlMs: ctx.config.sessionTtlMs });
  }

  @Mutation(() => Boolean, { description: 'Ends the session this request was made with.' })
  signOut(@Ctx() ctx: Context): Promise<boolean> {
    return signOut(ctx.em, ctx.actor, ctx.sessionToken);
  }
}
